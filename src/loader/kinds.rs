//! Kinds of file in a release: which files of a checksum file belong
//! together in one product. Pure: the loader hands in each file's *shape*
//! (its location template with the platform directory blanked out) and
//! gets back groups, each with the suffix its product is named with.
//!
//! - Files that differ only by platform directory and language share a
//!   shape and are one kind (`update/<os>/:lang/firefox-120.0.complete.mar`).
//! - Installers are named differently per platform but sit one per
//!   platform and language in one directory: the best installer of each
//!   platform in a directory (`Firefox Setup 120.0.exe`, `Firefox
//!   120.0.dmg`, `firefox-120.0.tar.bz2`) together are one kind.
//! - The installers of the main directory are the main kind (the product
//!   itself); every other kind is named from what distinguishes it:
//!   `complete`, `partial-119.0`, `msi`, `stub`, …
//! - `--kind SUFFIX=GLOB` puts the files a glob matches into a kind of
//!   that name first (an empty suffix is the main product).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::glob_match;

/// What stands for the platform directory in a shape.
pub const PLATFORM: &str = "\u{1}";

/// One file, as kinds are inferred from it.
#[derive(Clone, Copy, Debug)]
pub struct Shaped<'a> {
    /// The path as the checksum file lists it (what globs match).
    pub path: &'a str,
    /// Its location template with [`PLATFORM`] for the platform directory.
    pub shape: &'a str,
    /// Its operating system.
    pub os: &'a str,
    /// The main product stores this file's location template already.
    pub stored_main: bool,
}

/// A kind of file: the files of one product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    /// `None` for the main product, else the product's suffix (`complete`).
    pub suffix: Option<String>,
    /// The files (indexes into the input).
    pub files: Vec<usize>,
}

/// Installer file types, best first: the rank of `name` (lower is better),
/// `None` for what is no installer (updates, packages of parts, …).
fn installer_rank(name: &str) -> Option<u8> {
    // Shapes are percent-encoded: `%20` is no version.
    let lower = crate::query::percent_decode(name).to_ascii_lowercase();
    let versioned = lower.bytes().any(|b| b.is_ascii_digit());
    const RANKS: &[&str] = &[
        ".exe",
        ".dmg",
        ".tar.bz2",
        ".tar.xz",
        ".tar.gz",
        ".tgz",
        ".apk",
        ".appimage",
        ".zip",
        ".iso",
        ".img",
        ".deb",
        ".rpm",
        ".msi",
        ".msix",
        ".pkg",
        ".snap",
    ];
    let at = RANKS.iter().position(|ext| lower.ends_with(ext))?;
    // An installer without a version in its name is a stub (it downloads
    // the real one): after the full installers.
    Some(if versioned || at != 0 { at as u8 } else { 100 })
}

/// The name of a kind that says what it is on its own: complete and
/// partial updates.
fn intrinsic(name: &str) -> Option<String> {
    if name.ends_with(".complete.mar") {
        return Some("complete".into());
    }
    let stem = name.strip_suffix(".partial.mar")?;
    // `firefox-119.0-120.0`: the version updated from is the one before last.
    let mut parts = stem.rsplit('-');
    let (_to, from) = (parts.next()?, parts.next()?);
    from.starts_with(|c: char| c.is_ascii_digit())
        .then(|| format!("partial-{}", clean(from)))
}

/// Lower-case letters, digits, `.` and `-`, no `-` at the ends.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(['-', '.']).to_string()
}

/// The words of a shape's part: lower case, without versions, the
/// language placeholder or the platform.
fn words(s: &str) -> Vec<String> {
    crate::query::percent_decode(s)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !w.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_ascii_lowercase)
        .filter(|w| w != "lang")
        .collect()
}

/// The last extension of a file name (`msi`, `bz2`), if any.
fn extension(name: &str) -> Option<&str> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric()) && !ext.is_empty())
        .then_some(ext)
}

/// A shape's directory part and file name.
fn split(shape: &str) -> (&str, &str) {
    shape.rsplit_once('/').unwrap_or(("", shape))
}

/// How a kind other than the main one is named, from what distinguishes
/// its representative shape from the main kind's.
fn distinguish(shape: &str, main: Option<&str>) -> String {
    let (dir, name) = split(shape);
    let Some(main) = main else {
        return extension(name).map_or_else(|| clean(&words(name).join("-")), clean);
    };
    let (main_dir, main_name) = split(main);
    let differ = |ours: &str, theirs: &str| -> Vec<String> {
        let theirs: BTreeSet<String> = words(theirs).into_iter().collect();
        let mut seen = BTreeSet::new();
        words(ours)
            .into_iter()
            .filter(|w| !theirs.contains(w) && seen.insert(w.clone()))
            .collect()
    };
    let stem = |name: &'_ str| -> String {
        match extension(name) {
            Some(ext) => name[..name.len() - ext.len() - 1].to_string(),
            None => name.to_string(),
        }
    };
    let mut diff = differ(&stem(name), &stem(main_name));
    if diff == ["installer"] {
        // Mozilla's name for the small installer that downloads the rest.
        return "stub".into();
    }
    let ext = extension(name);
    if ext.is_some() && ext != extension(main_name) {
        return clean(ext.unwrap_or_default());
    }
    if diff.is_empty() {
        diff = differ(dir, main_dir);
    }
    clean(&diff.join("-"))
}

/// Groups `files` into kinds. `explicit` are `--kind` pairs (suffix,
/// glob), tried in order; the first glob that matches a file decides.
pub fn infer(files: &[Shaped<'_>], explicit: &[(String, String)]) -> Vec<Kind> {
    let mut kinds: Vec<Kind> = Vec::new();
    let mut by_suffix: HashMap<Option<String>, usize> = HashMap::new();
    fn add(
        kinds: &mut Vec<Kind>,
        by_suffix: &mut HashMap<Option<String>, usize>,
        suffix: Option<String>,
        file: usize,
    ) {
        let at = *by_suffix.entry(suffix.clone()).or_insert_with(|| {
            kinds.push(Kind {
                suffix,
                files: Vec::new(),
            });
            kinds.len() - 1
        });
        kinds[at].files.push(file);
    }

    // Explicit kinds first; the rest by shape.
    let mut shapes: BTreeMap<&str, Shape<'_>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        if let Some((suffix, _)) = explicit.iter().find(|(_, g)| glob_match(g, f.path)) {
            add(
                &mut kinds,
                &mut by_suffix,
                (!suffix.is_empty()).then(|| suffix.clone()),
                i,
            );
            continue;
        }
        let s = shapes.entry(f.shape).or_insert_with(|| Shape {
            shape: f.shape,
            oses: BTreeSet::new(),
            files: Vec::new(),
            stored_main: false,
        });
        s.oses.insert(f.os);
        s.files.push(i);
        s.stored_main |= f.stored_main;
    }

    // Intrinsically named kinds, then installers: per directory, the best
    // installer of each platform.
    struct Candidate<'a> {
        shapes: Vec<&'a Shape<'a>>,
        installers: bool,
    }
    let mut named: Vec<(String, &Shape<'_>)> = Vec::new();
    let mut dirs: BTreeMap<&str, Vec<&Shape<'_>>> = BTreeMap::new();
    for s in shapes.values() {
        match intrinsic(split(s.shape).1) {
            Some(name) => named.push((name, s)),
            None => dirs.entry(split(s.shape).0).or_default().push(s),
        }
    }
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    for (_, group) in dirs {
        let mut primary: BTreeMap<&str, &Shape<'_>> = BTreeMap::new();
        for s in &group {
            if s.rank().is_none() {
                continue;
            }
            for os in &s.oses {
                match primary.get(os) {
                    Some(best) if best.key() <= s.key() => {}
                    _ => {
                        primary.insert(os, s);
                    }
                }
            }
        }
        // A shape is primary only where it is for every platform it has.
        let mut chosen: Vec<&Shape<'_>> = Vec::new();
        for s in &group {
            if s.oses
                .iter()
                .all(|os| primary.get(os).is_some_and(|p| std::ptr::eq(*p, *s)))
            {
                chosen.push(s);
            }
        }
        for s in &group {
            if !chosen.iter().any(|c| std::ptr::eq(*c, *s)) {
                candidates.push(Candidate {
                    shapes: vec![s],
                    installers: false,
                });
            }
        }
        if !chosen.is_empty() {
            candidates.push(Candidate {
                shapes: chosen,
                installers: true,
            });
        }
    }

    // The main kind: unless named explicitly, the installers the main
    // product stores, else the most files, then the shallowest directory;
    // a release of one kind of file is all main.
    let files_of = |c: &Candidate<'_>| c.shapes.iter().map(|s| s.files.len()).sum::<usize>();
    let main = if by_suffix.contains_key(&None) {
        None
    } else {
        candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.installers || (candidates.len() == 1 && named.is_empty()))
            .min_by_key(|(_, c)| {
                (
                    !c.shapes.iter().any(|s| s.stored_main),
                    usize::MAX - files_of(c),
                    c.shapes[0].shape.matches('/').count(),
                    c.shapes[0].shape,
                )
            })
            .map(|(i, _)| i)
    };
    // The main kind's shape per platform: what other kinds are told apart
    // from.
    let main_shapes: Vec<(&str, &str)> = match main {
        Some(i) => candidates[i]
            .shapes
            .iter()
            .flat_map(|s| s.oses.iter().map(|os| (*os, s.shape)))
            .collect(),
        None => by_suffix.get(&None).map_or_else(Vec::new, |&k| {
            kinds[k]
                .files
                .iter()
                .map(|&f| (files[f].os, files[f].shape))
                .collect()
        }),
    };
    // A kind is named from one of its shapes against the main kind's shape
    // for the same platform (a shape of another platform differs anyway).
    let name_of = |c: &Candidate<'_>| {
        let pair = c.shapes.iter().find_map(|s| {
            let main = main_shapes.iter().find(|(os, _)| s.oses.contains(os))?;
            Some((s.shape, main.1))
        });
        match pair {
            Some((ours, main)) => distinguish(ours, Some(main)),
            None => distinguish(c.shapes[0].shape, main_shapes.first().map(|m| m.1)),
        }
    };

    // Names: explicit first, then intrinsic, then distinguishing words.
    // Two kinds that come out with one name stay apart (`-2`, `-3`).
    let mut taken: BTreeSet<String> = kinds.iter().filter_map(|k| k.suffix.clone()).collect();
    let mut unique = |name: String| {
        let name = if name.is_empty() {
            "other".into()
        } else {
            name
        };
        let mut n = 1;
        let mut candidate = name.clone();
        while !taken.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{name}-{n}");
        }
        candidate
    };
    let mut inferred: Vec<(Option<String>, Vec<&Shape<'_>>)> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let name = (Some(i) != main).then(|| name_of(c));
        inferred.push((name, c.shapes.clone()));
    }
    for (name, s) in named {
        inferred.push((Some(name), vec![s]));
    }
    // Same names in a stable order: the one with the most files first;
    // kinds of one name on different platforms are one kind.
    let size = |shapes: &[&Shape<'_>]| shapes.iter().map(|s| s.files.len()).sum::<usize>();
    inferred.sort_by(|a, b| a.0.cmp(&b.0).then(size(&b.1).cmp(&size(&a.1))));
    struct Named<'a> {
        base: Option<String>,
        suffix: Option<String>,
        oses: BTreeSet<&'a str>,
        files: Vec<usize>,
    }
    let mut groups: Vec<Named<'_>> = Vec::new();
    for (base, shapes) in inferred {
        let oses: BTreeSet<&str> = shapes.iter().flat_map(|s| s.oses.iter().copied()).collect();
        let files = shapes.iter().flat_map(|s| s.files.iter().copied());
        match groups
            .iter_mut()
            .find(|g| base.is_some() && g.base == base && g.oses.is_disjoint(&oses))
        {
            Some(g) => {
                g.oses.extend(oses);
                g.files.extend(files);
            }
            None => groups.push(Named {
                suffix: base.clone().map(&mut unique),
                base,
                oses,
                files: files.collect(),
            }),
        }
    }
    for g in groups {
        for f in g.files {
            add(&mut kinds, &mut by_suffix, g.suffix.clone(), f);
        }
    }
    kinds.sort_by(|a, b| a.suffix.cmp(&b.suffix));
    kinds
}

/// The files of one shape.
struct Shape<'a> {
    shape: &'a str,
    oses: BTreeSet<&'a str>,
    files: Vec<usize>,
    stored_main: bool,
}

impl Shape<'_> {
    fn rank(&self) -> Option<u8> {
        installer_rank(split(self.shape).1)
    }

    /// Which installer of a platform is its best: the one the main
    /// product stores, the best type, the most files, the shortest name.
    fn key(&self) -> (bool, u8, usize, usize) {
        (
            !self.stored_main,
            self.rank().unwrap_or(u8::MAX),
            usize::MAX - self.files.len(),
            self.shape.len(),
        )
    }
}
