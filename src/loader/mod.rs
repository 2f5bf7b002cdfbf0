//! The loader: turns a checksum file into products' languages, locations
//! and files with their hashes. [`plan`] is pure (what would change, what
//! exists, what conflicts, which lines are unusable and why); [`apply`]
//! writes a plan in one transaction. The CLI and the admin upload share
//! both steps.

pub mod locales;
pub mod parse;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::error::Thing;
use crate::error::{Error, Result};
use crate::model::{FileInfo, LANG_PLACEHOLDER};
use crate::network::Network;
use crate::query::encode_raw_path;
use crate::store::{NewProduct, Snapshot};
pub use parse::{Entry, HashKind, Parsed, Problem, parse};

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
    /// The product the files belong to (created if missing).
    pub product: String,
    /// Extra or overriding `directory=os` pairs.
    pub os_map: Vec<(String, String)>,
    /// Only files whose path matches this glob (`*`, `?`) are used.
    pub matching: Option<String>,
    /// Replace stored hashes and location paths that differ.
    pub force: bool,
    /// Directory on the mirrors that the checksum file's paths are relative
    /// to, e.g. `/firefox/releases/120.0`.
    pub prefix: String,
}

/// Parses `--os-map win32=win,mac=osx`.
pub fn parse_os_map(s: &str) -> Result<Vec<(String, String)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (dir, os) = pair.split_once('=').ok_or_else(|| {
                Error::invalid(
                    "os map",
                    format!("{pair:?} is not DIR=OS (e.g. --os-map win32=win,mac=osx)"),
                )
            })?;
            Ok((dir.trim().to_string(), crate::validate::os(os)?))
        })
        .collect()
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
    pub reason: String,
}

/// A file as the checksum file lists it (one or more lines).
struct Listed {
    os: String,
    /// The location template the path fits.
    template: String,
    /// The language (the product's spelling) and as the path spells it.
    lang: Option<(String, String)>,
    hashes: Hashes,
    lines: Vec<usize>,
}

/// What loading a checksum file would do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The product.
    pub product: String,
    /// The product does not exist yet and will be created.
    pub create_product: bool,
    /// Languages the product will gain.
    pub new_languages: Vec<String>,
    /// Locations implied, by OS.
    pub locations: Vec<PlannedLocation>,
    /// Files listed.
    pub files: Vec<PlannedFile>,
    /// Lines that could not be used.
    pub skipped: Vec<Skipped>,
    /// Lines left out by `--match`.
    pub unmatched: usize,
    /// Conflicts will be overwritten.
    pub force: bool,
}

impl Plan {
    fn count<T>(items: &[T], status: impl Fn(&T) -> Status, want: Status) -> usize {
        items.iter().filter(|i| status(i) == want).count()
    }

    /// Whether applying it would change anything.
    pub fn changes_anything(&self) -> bool {
        // A product is created only to hold what the file brings.
        (self.create_product && !self.locations.is_empty())
            || !self.new_languages.is_empty()
            || self
                .locations
                .iter()
                .any(|l| l.status == Status::New || (self.force && l.status == Status::Conflict))
            || self.files.iter().any(|f| {
                matches!(f.status, Status::New | Status::Completed)
                    || (self.force && f.status == Status::Conflict)
            })
    }

    /// The plan in words: counts, examples, conflicts and every unusable line.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "product {}{}",
            self.product,
            if self.create_product { " (new)" } else { "" }
        );
        if !self.new_languages.is_empty() {
            let _ = writeln!(
                out,
                "  languages: {} new ({})",
                self.new_languages.len(),
                examples(self.new_languages.iter().map(String::as_str), 12)
            );
        }
        let loc = |s| Self::count(&self.locations, |l| l.status, s);
        let _ = writeln!(
            out,
            "  locations: {} new, {} unchanged, {} conflicting",
            loc(Status::New),
            loc(Status::Same),
            loc(Status::Conflict)
        );
        for l in &self.locations {
            let what = match (l.status, &l.stored) {
                (Status::Conflict, Some(stored)) => format!(
                    "CONFLICT: stored {stored}{}",
                    if self.force {
                        " (will be replaced)"
                    } else {
                        " (kept; --force replaces it)"
                    }
                ),
                (Status::New, _) => "new".into(),
                _ => "unchanged".into(),
            };
            let _ = writeln!(
                out,
                "    {:<10} {}  [{} languages] {what}",
                l.os, l.path, l.languages
            );
        }
        let file = |s| Self::count(&self.files, |f| f.status, s);
        let _ = writeln!(
            out,
            "  files: {} new, {} completed with more hashes, {} unchanged, {} conflicting",
            file(Status::New),
            file(Status::Completed),
            file(Status::Same),
            file(Status::Conflict)
        );
        for f in self.files.iter().filter(|f| f.status == Status::Conflict) {
            let _ = writeln!(
                out,
                "    CONFLICT {}: {}{}",
                f.path,
                f.detail,
                if self.force {
                    " (will be replaced)"
                } else {
                    " (kept; --force replaces it)"
                }
            );
        }
        if self.unmatched > 0 {
            let _ = writeln!(
                out,
                "  {} line(s) not matching --match left out",
                self.unmatched
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "  {} line(s) could not be used:", self.skipped.len());
            // Lines with the same reason together, as ranges.
            let mut reasons: Vec<(&str, Vec<usize>)> = Vec::new();
            for s in &self.skipped {
                match reasons.iter_mut().find(|(r, _)| *r == s.reason) {
                    Some((_, lines)) => lines.push(s.line),
                    None => reasons.push((&s.reason, vec![s.line])),
                }
            }
            for (reason, lines) in reasons {
                let _ = writeln!(
                    out,
                    "    {} {}: {reason}",
                    if lines.len() == 1 { "line" } else { "lines" },
                    ranges(&lines)
                );
            }
        }
        out
    }
}

/// `1-3, 7, 9-10` for sorted line numbers.
pub fn ranges(lines: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let mut j = i;
        while j + 1 < lines.len() && lines[j + 1] == lines[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            lines[i].to_string()
        } else {
            format!("{}-{}", lines[i], lines[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

fn examples<'a>(items: impl Iterator<Item = &'a str>, n: usize) -> String {
    let all: Vec<&str> = items.collect();
    let mut s = all.iter().take(n).copied().collect::<Vec<_>>().join(", ");
    if all.len() > n {
        let _ = write!(s, ", … ({} more)", all.len() - n);
    }
    s
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

/// Works out what loading `parsed` into `options.product` would do.
pub fn plan(s: &Snapshot, known: &[FileInfo], parsed: &Parsed, options: &Options) -> Result<Plan> {
    let product_name = crate::validate::name("product", &options.product)?;
    let product = s.product(&product_name);
    let mut os_map: HashMap<&str, &str> = DEFAULT_OS_MAP.iter().copied().collect();
    for (dir, os) in &options.os_map {
        os_map.insert(dir, os);
    }
    let mut plan = Plan {
        product: product.map_or(product_name.clone(), |p| p.name.clone()),
        create_product: product.is_none(),
        force: options.force,
        skipped: parsed
            .problems
            .iter()
            .map(|p| Skipped {
                line: p.line,
                reason: p.reason.clone(),
            })
            .collect(),
        ..Plan::default()
    };
    // The product's languages by lower-case spelling: one lookup per path
    // segment, whatever the number of languages.
    let product_langs: HashMap<String, &String> = product
        .map(|p| {
            p.languages
                .iter()
                .map(|l| (l.to_ascii_lowercase(), l))
                .collect()
        })
        .unwrap_or_default();
    let prefix = match options.prefix.trim_matches('/') {
        "" => String::new(),
        p => crate::validate::path(&format!("/{}", encode_raw_path(p).replace("%2F", "/")))?,
    };
    let lang_of = |seg: &str| -> Option<String> {
        product_langs
            .get(&seg.to_ascii_lowercase())
            .map(|l| (*l).clone())
            .or_else(|| locales::is_known(seg).then(|| seg.to_string()))
    };

    // Group entries by (os, template).
    struct Group {
        langs: BTreeSet<String>,
        lines: Vec<usize>,
    }
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    let mut per_file: HashMap<String, Listed> = HashMap::new();
    for e in &parsed.entries {
        if let Some(glob) = &options.matching
            && !glob_match(glob, &e.path)
        {
            plan.unmatched += 1;
            continue;
        }
        let segments: Vec<&str> = e.path.split('/').collect();
        let Some((os_at, os)) = segments
            .iter()
            .enumerate()
            .find_map(|(i, seg)| os_map.get(seg).map(|os| (i, *os)))
        else {
            plan.skipped.push(Skipped {
                line: e.line,
                reason: format!(
                    "no platform directory in {} (known: {}); map one with --os-map DIR=OS",
                    crate::error::excerpt(&e.path),
                    examples(DEFAULT_OS_MAP.iter().map(|(d, _)| *d), 8)
                ),
            });
            continue;
        };
        if !s.oses.iter().any(|o| o == os) {
            plan.skipped.push(Skipped {
                line: e.line,
                reason: format!(
                    "operating system {os:?} is not known: `bouncer os add {os}` first"
                ),
            });
            continue;
        }
        // The language: a locale-shaped segment, preferably after the platform.
        let lang_at = segments
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != os_at)
            .filter_map(|(i, seg)| lang_of(seg).map(|l| (i, l)))
            .min_by_key(|(i, _)| (*i < os_at, *i));
        let template = segments
            .iter()
            .enumerate()
            .map(|(i, seg)| match &lang_at {
                Some((at, _)) if *at == i => LANG_PLACEHOLDER.to_string(),
                _ => encode_raw_path(seg),
            })
            .collect::<Vec<_>>()
            .join("/");
        let template = format!("{prefix}/{template}");
        let file_path = format!("{prefix}/{}", encode_raw_path(&e.path));
        // The path rules every entry point shares (a length cap, no
        // segment a server takes for '..', such as `..;`): a line that
        // breaks them is skipped, not the whole load refused.
        if let Err(problem) =
            crate::validate::path(&template).and_then(|_| crate::validate::path(&file_path))
        {
            plan.skipped.push(Skipped {
                line: e.line,
                reason: problem.to_string(),
            });
            continue;
        }
        let lang = lang_at.map(|(at, l)| (l, segments[at].to_string()));
        let group = groups
            .entry((os.to_string(), template.clone()))
            .or_insert_with(|| Group {
                langs: BTreeSet::new(),
                lines: Vec::new(),
            });
        if let Some((l, _)) = &lang {
            group.langs.insert(l.clone());
        }
        group.lines.push(e.line);
        let f = per_file.entry(file_path).or_insert_with(|| Listed {
            os: os.to_string(),
            template,
            lang: lang.clone(),
            hashes: Hashes::default(),
            lines: Vec::new(),
        });
        let slot = f.hashes.slot(e.kind);
        match slot {
            Some(h) if *h != e.hash => plan.skipped.push(Skipped {
                line: e.line,
                reason: format!(
                    "{} of {} differs from the one on line {}",
                    e.kind.name(),
                    crate::error::excerpt(&e.path),
                    f.lines.first().copied().unwrap_or(0)
                ),
            }),
            _ => {
                *slot = Some(e.hash.clone());
                f.lines.push(e.line);
            }
        }
    }

    // One location per OS: several kinds of file for one OS need --match.
    let stored_location = |os: &str| {
        product.and_then(|p| s.locations.iter().find(|l| l.product == p.id && l.os == os))
    };
    let mut by_os: BTreeMap<String, Vec<(String, Group)>> = BTreeMap::new();
    for ((os, template), g) in groups {
        by_os.entry(os).or_default().push((template, g));
    }
    let mut chosen: HashMap<String, String> = HashMap::new();
    let mut langs_seen: BTreeSet<String> = BTreeSet::new();
    for (os, mut candidates) in by_os {
        if candidates.len() > 1 {
            let stored = stored_location(&os).map(|l| l.path.clone());
            if let Some(i) = candidates
                .iter()
                .position(|(t, _)| Some(t) == stored.as_ref())
            {
                let keep = candidates.swap_remove(i);
                for (t, g) in candidates {
                    for line in g.lines {
                        plan.skipped.push(Skipped {
                            line,
                            reason: format!(
                                "{os} already has a location; this file ({t}) is another kind"
                            ),
                        });
                    }
                }
                candidates = vec![keep];
            } else {
                let names: Vec<&str> = candidates.iter().map(|(t, _)| t.as_str()).collect();
                let reason = format!(
                    "several kinds of file for {os} ({}); choose one with --match, e.g. --match '*.exe'",
                    examples(names.into_iter(), 3)
                );
                for (_, g) in candidates {
                    for line in g.lines {
                        plan.skipped.push(Skipped {
                            line,
                            reason: reason.clone(),
                        });
                    }
                }
                continue;
            }
        }
        let (template, g) = candidates.remove(0);
        let (status, stored) = match stored_location(&os) {
            None => (Status::New, None),
            Some(l) if l.path == template => (Status::Same, None),
            Some(l) => (Status::Conflict, Some(l.path.clone())),
        };
        langs_seen.extend(g.langs.iter().cloned());
        plan.locations.push(PlannedLocation {
            os: os.clone(),
            path: template.clone(),
            status,
            stored,
            languages: g.langs.len(),
        });
        chosen.insert(os, template);
    }

    // Files of the chosen locations, against what is stored.
    let stored_files: HashMap<&str, &FileInfo> =
        known.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut files: Vec<(String, Listed)> = per_file.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
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
        } = listed;
        // Lines of an OS or a kind of file that was not chosen are reported above.
        if chosen.get(&os) != Some(&template) {
            continue;
        }
        let reason = if let Some(stored) = conflicting.get(os.as_str()) {
            Some(format!(
                "{os} keeps its stored location {stored}, which this file does not fit; --force replaces it"
            ))
        } else {
            match &lang {
                Some((ours, theirs)) if ours != theirs => Some(format!(
                    "the path spells the language {theirs:?}, the product {ours:?}: mirrors would be asked for the wrong path; make the spellings agree"
                )),
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
        let (status, detail) = match stored_files.get(path.as_str()) {
            None => (Status::New, String::new()),
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

    // Languages: a new product takes those seen; a product with a list
    // gains the missing ones; a product offered in every language stays so.
    plan.new_languages = match product {
        None => langs_seen.into_iter().collect(),
        Some(p) if p.languages.is_empty() => Vec::new(),
        Some(_) => langs_seen
            .into_iter()
            .filter(|l| !product_langs.contains_key(&l.to_ascii_lowercase()))
            .collect(),
    };
    plan.skipped.extend(unfit);
    plan.skipped.sort_by_key(|s| s.line);
    Ok(plan)
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
    /// Locations added (or replaced with `--force`).
    pub locations: usize,
    /// Files added or updated.
    pub files: usize,
    /// Languages added.
    pub languages: usize,
}

/// Writes `plan` in one transaction (all or nothing), marks the product
/// for sentry's next `--new` check, records an audit event, and publishes
/// the new index.
pub fn apply(network: &Network, plan: &Plan, actor: &crate::model::Actor) -> Result<Applied> {
    if !plan.changes_anything() {
        return Ok(Applied::default());
    }
    network.write(actor, |tx| {
        let mut done = Applied::default();
        if plan.create_product {
            tx.product_add(NewProduct {
                name: plan.product.clone(),
                languages: plan.new_languages.clone(),
                ..NewProduct::default()
            })?;
        } else if !plan.new_languages.is_empty() {
            tx.product_update(&plan.product, |p| {
                p.languages.extend(plan.new_languages.iter().cloned())
            })?;
        }
        done.languages = plan.new_languages.len();
        let mut location_ids = HashMap::new();
        for l in &plan.locations {
            let location = match l.status {
                Status::New => {
                    done.locations += 1;
                    tx.location_add(&plan.product, &l.os, &l.path)?
                }
                Status::Conflict if plan.force => {
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
            .filter(|f| match f.status {
                Status::New | Status::Completed => true,
                Status::Conflict => plan.force,
                Status::Same => false,
            })
            .collect();
        let paths: Vec<String> = written.iter().map(|f| f.path.clone()).collect();
        let mut known = tx.files_at(&paths)?;
        let mut files = Vec::with_capacity(written.len());
        for f in written {
            let old = known.remove(&f.path).unwrap_or_default();
            let keep = |new: &Option<String>, old: Option<String>| {
                if plan.force {
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
        tx.record(
            "loader.apply",
            format!(
                "{}: {} languages, {} locations, {} files added or updated",
                plan.product, done.languages, done.locations, done.files
            ),
        )?;
        Ok(done)
    })
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

    #[test]
    fn os_maps() {
        assert_eq!(
            parse_os_map("win32=WIN, mac=osx").unwrap(),
            vec![("win32".into(), "win".into()), ("mac".into(), "osx".into())]
        );
        assert!(parse_os_map("win32").is_err());
    }
}
