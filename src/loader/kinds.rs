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

/// A suffix is at most this long (a long file name's words would make
/// a product name longer than names may be).
const SUFFIX_CHARS: usize = 40;

/// Lower-case letters, digits, `.` and `-`, no `-` at the ends, at most
/// [`SUFFIX_CHARS`] long.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase).take(SUFFIX_CHARS) {
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

/// More kinds than this in one file is no release but a whole tree: the
/// loader refuses to make a product of each.
pub const MAX_KINDS: usize = 500;

/// A file that holds more than [`MAX_KINDS`] kinds of file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyKinds(pub usize);

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

/// A kind in the making: shapes that go together.
struct Candidate<'a> {
    shapes: Vec<&'a Shape<'a>>,
    /// The best installers of each platform of one directory.
    installers: bool,
    /// Named by what it is (`complete`, `partial-119.0`).
    intrinsic: Option<String>,
}

impl Candidate<'_> {
    fn files(&self) -> usize {
        self.shapes.iter().map(|s| s.files.len()).sum()
    }

    fn oses(&self) -> impl Iterator<Item = &str> {
        self.shapes.iter().flat_map(|s| s.oses.iter().copied())
    }
}

/// The files of each shape; `stored` as for [`infer`].
fn shapes<'a>(
    files: &[Shaped<'a>],
    stored: &[(&str, &str)],
    left: impl Fn(usize) -> bool,
) -> BTreeMap<&'a str, Shape<'a>> {
    let mut shapes: BTreeMap<&str, Shape<'_>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate().filter(|(i, _)| left(*i)) {
        let s = shapes.entry(f.shape).or_insert_with(|| Shape {
            shape: f.shape,
            oses: BTreeSet::new(),
            files: Vec::new(),
            stored_main: false,
        });
        s.oses.insert(f.os);
        s.files.push(i);
        s.stored_main |= stored.contains(&(f.os, f.shape));
    }
    shapes
}

/// The candidates: each update kind on its own; per directory, the best
/// installer of each platform together; every other shape on its own.
fn candidates<'a>(shapes: &'a BTreeMap<&'a str, Shape<'a>>) -> Vec<Candidate<'a>> {
    let mut out = Vec::new();
    let mut dirs: BTreeMap<&str, Vec<&Shape<'_>>> = BTreeMap::new();
    for s in shapes.values() {
        match intrinsic(split(s.shape).1) {
            Some(name) => out.push(Candidate {
                shapes: vec![s],
                installers: false,
                intrinsic: Some(name),
            }),
            None => dirs.entry(split(s.shape).0).or_default().push(s),
        }
    }
    for group in dirs.into_values() {
        let mut primary: BTreeMap<&str, &Shape<'_>> = BTreeMap::new();
        for s in group.iter().filter(|s| s.rank().is_some()) {
            for os in &s.oses {
                if primary.get(os).is_none_or(|best| s.key() < best.key()) {
                    primary.insert(os, s);
                }
            }
        }
        // A shape is primary only where it is for every platform it has.
        let chosen = |s: &Shape<'_>| {
            s.oses
                .iter()
                .all(|os| primary.get(os).is_some_and(|p| std::ptr::eq(*p, s)))
        };
        let (installers, others): (Vec<&Shape<'_>>, Vec<&Shape<'_>>) =
            group.into_iter().partition(|s| chosen(s));
        out.extend(others.into_iter().map(|s| Candidate {
            shapes: vec![s],
            installers: false,
            intrinsic: None,
        }));
        if !installers.is_empty() {
            out.push(Candidate {
                shapes: installers,
                installers: true,
                intrinsic: None,
            });
        }
    }
    out
}

/// Groups `files` into kinds. `explicit` are `--kind` pairs (suffix,
/// glob), tried in order; the first glob that matches a file decides.
/// `stored` are the main product's stored locations as shapes, by OS: when
/// it has some, only installers it stores can be the main kind (a later
/// file of MSIs only is the MSIs' kind, not the product's), and other
/// kinds are named against them.
pub fn infer(
    files: &[Shaped<'_>],
    explicit: &[(String, String)],
    stored: &[(&str, &str)],
) -> Result<Vec<Kind>, TooManyKinds> {
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
    let chosen: Vec<Option<&String>> = files
        .iter()
        .map(|f| {
            explicit
                .iter()
                .find(|(_, g)| glob_match(g, f.path))
                .map(|(suffix, _)| suffix)
        })
        .collect();
    let mut explicit_main: Vec<(&str, &str)> = Vec::new();
    for (i, suffix) in chosen.iter().enumerate() {
        if let Some(suffix) = suffix {
            if suffix.is_empty() {
                explicit_main.push((files[i].os, files[i].shape));
            }
            add(
                &mut kinds,
                &mut by_suffix,
                (!suffix.is_empty()).then(|| (*suffix).clone()),
                i,
            );
        }
    }
    let shapes = shapes(files, stored, |i| chosen[i].is_none());
    let candidates = candidates(&shapes);
    if candidates.len() + kinds.len() > MAX_KINDS {
        return Err(TooManyKinds(candidates.len() + kinds.len()));
    }

    // The main kind, unless named explicitly: the installers the main
    // product stores (none when it stores others), else those with the
    // most files, then in the shallowest directory; a release of one
    // kind of file is all main.
    let lone = candidates.len() == 1 && candidates[0].intrinsic.is_none();
    let main = if explicit_main.is_empty() {
        candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.installers || lone)
            .filter(|(_, c)| stored.is_empty() || c.shapes.iter().any(|s| s.stored_main))
            .min_by_key(|(_, c)| {
                (
                    usize::MAX - c.files(),
                    c.shapes[0].shape.matches('/').count(),
                    c.shapes[0].shape,
                )
            })
            .map(|(i, _)| i)
    } else {
        None
    };
    // What other kinds are told apart from, per platform.
    let main_shapes: Vec<(&str, &str)> = match main {
        Some(i) => candidates[i]
            .shapes
            .iter()
            .flat_map(|s| s.oses.iter().map(|os| (*os, s.shape)))
            .collect(),
        None if !explicit_main.is_empty() => explicit_main,
        None => stored.to_vec(),
    };
    let name_of = |c: &Candidate<'_>| -> String {
        if let Some(name) = &c.intrinsic {
            return name.clone();
        }
        let types: BTreeSet<Option<&str>> = c
            .shapes
            .iter()
            .map(|s| extension(split(s.shape).1))
            .collect();
        if c.installers && types.len() > 1 {
            // Installers of several platforms, left beside the main kind.
            return "installers".into();
        }
        let pair = c.shapes.iter().find_map(|s| {
            let main = main_shapes.iter().find(|(os, _)| s.oses.contains(os))?;
            Some((s.shape, main.1))
        });
        match pair {
            Some((ours, main)) => distinguish(ours, Some(main)),
            None => distinguish(c.shapes[0].shape, main_shapes.first().map(|m| m.1)),
        }
    };

    // Names: explicit ones are taken; kinds of one name on different
    // platforms are one kind; others of a name taken get `-2`, `-3`, ….
    let mut named: Vec<(Option<String>, &Candidate<'_>)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| ((Some(i) != main).then(|| name_of(c)), c))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.files().cmp(&a.1.files())));
    let mut taken: BTreeSet<String> = by_suffix.keys().flatten().cloned().collect();
    let mut next: HashMap<String, usize> = HashMap::new();
    // Per base name, the kinds made of it: (suffix, platforms).
    let mut groups: HashMap<String, Vec<(String, BTreeSet<&str>)>> = HashMap::new();
    for (base, c) in named {
        let Some(base) = base else {
            for &f in c.shapes.iter().flat_map(|s| &s.files) {
                add(&mut kinds, &mut by_suffix, None, f);
            }
            continue;
        };
        let base = if base.is_empty() {
            "other".into()
        } else {
            base
        };
        let oses: BTreeSet<&str> = c.oses().collect();
        let same = groups.entry(base.clone()).or_default();
        let suffix = match same.iter_mut().find(|(_, o)| o.is_disjoint(&oses)) {
            Some((suffix, o)) => {
                o.extend(oses);
                suffix.clone()
            }
            None => {
                let n = next.entry(base.clone()).or_insert(1);
                let mut suffix = base.clone();
                while !taken.insert(suffix.clone()) {
                    *n += 1;
                    suffix = format!("{base}-{n}");
                }
                same.push((suffix.clone(), oses));
                suffix
            }
        };
        for &f in c.shapes.iter().flat_map(|s| &s.files) {
            add(&mut kinds, &mut by_suffix, Some(suffix.clone()), f);
        }
    }
    kinds.sort_by(|a, b| a.suffix.cmp(&b.suffix));
    Ok(kinds)
}
