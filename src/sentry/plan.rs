//! Which checks a run makes. Pure: a function of the network, what was
//! checked before, the mode and a random source.

use std::collections::HashSet;

use crate::index::Random;
use crate::model::{FileInfo, LANG_PLACEHOLDER, Location, LocationId, MirrorId, Product};
use crate::store::Snapshot;

use super::verdict::Expected;

/// What a run checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Products flagged `checknow`, new mirrors, new locations.
    New,
    /// Everything.
    All,
    /// One random file per mirror.
    Spot,
    /// Full content of every file with a known checksum.
    Hashes,
}

impl Mode {
    /// Its name in reports and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::New => "new",
            Mode::All => "all",
            Mode::Spot => "spot",
            Mode::Hashes => "hashes",
        }
    }
}

/// One file to check on a mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// The location it stands for.
    pub location: LocationId,
    /// The language filled in (empty: none).
    pub lang: String,
    /// Path from the mirror's root.
    pub path: String,
    /// What the file should look like.
    pub expected: Expected,
    /// Download it and compare digests.
    pub hash: bool,
    /// After it is found, download its first few megabytes to measure the
    /// mirror's speed.
    pub measure: bool,
}

/// Everything to check on one mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorPlan {
    /// The mirror.
    pub mirror: MirrorId,
    /// Its name.
    pub name: String,
    /// Its root URL.
    pub base_url: String,
    /// Its root over the other scheme, checked too.
    pub alt_url: Option<String>,
    /// Its trace file, under its root.
    pub trace: Option<String>,
    /// Files to check (after the base URL answers).
    pub checks: Vec<Check>,
}

/// Languages to check for a location: `en-US` when offered, the first and
/// the last alphabetically (a half-synced release usually lacks the late
/// ones), and one at random. One empty language for paths without `:lang`.
/// When files of the location are known (`known`: their languages), only
/// those: a product's languages may differ per platform (Firefox's
/// `ja-JP-mac` is on mac only), and a file that was never published is no
/// fault of the mirror's.
pub fn sample_languages(
    product: &Product,
    location: &Location,
    known: Option<&HashSet<&str>>,
    rng: &mut impl Random,
) -> Vec<String> {
    if !location.path.contains(LANG_PLACEHOLDER) {
        return vec![String::new()];
    }
    // A product in every language: its known files' languages, else en-US.
    let every: Vec<String> = match known {
        Some(k) if product.languages.is_empty() => k.iter().map(|l| l.to_string()).collect(),
        _ if product.languages.is_empty() => vec!["en-US".into()],
        _ => Vec::new(),
    };
    let offered = if product.languages.is_empty() {
        &every
    } else {
        &product.languages
    };
    let mut sorted: Vec<&String> = offered
        .iter()
        .filter(|l| known.is_none_or(|k| k.contains(l.as_str())))
        .collect();
    if sorted.is_empty() {
        sorted = offered.iter().collect();
    }
    sorted.sort_by_key(|l| l.to_ascii_lowercase());
    let mut out: Vec<String> = Vec::new();
    let mut add = |l: &str| {
        if !out.iter().any(|x| x == l) {
            out.push(l.to_string());
        }
    };
    if let Some(en) = sorted.iter().find(|l| l.eq_ignore_ascii_case("en-US")) {
        add(en);
    }
    add(sorted[0]);
    add(sorted[sorted.len() - 1]);
    add(sorted[rng.below(sorted.len() as u64) as usize]);
    out
}

/// Which checks a run in `mode` makes, for every active mirror (or just
/// `only`). `checked` are the locations checked on some mirror before.
pub fn plan(
    mode: Mode,
    only: Option<MirrorId>,
    s: &Snapshot,
    known: &[FileInfo],
    checked: &HashSet<(LocationId, MirrorId)>,
    rng: &mut impl Random,
) -> Vec<MirrorPlan> {
    let now = crate::model::now();
    let files: std::collections::HashMap<&str, &FileInfo> =
        known.iter().map(|f| (f.path.as_str(), f)).collect();
    let mut langs: std::collections::HashMap<LocationId, HashSet<&str>> =
        std::collections::HashMap::new();
    for f in known {
        if let (Some(l), Some(lang)) = (f.location, &f.lang) {
            langs.entry(l).or_default().insert(lang);
        }
    }
    let active_locations: Vec<(&Location, &Product)> = s
        .locations
        .iter()
        .filter_map(|l| {
            s.product_by_id(l.product)
                .filter(|p| p.active)
                .map(|p| (l, p))
        })
        .collect();
    let check = |l: &Location, lang: &str, hash: bool| -> Check {
        let path = l.path.replace(LANG_PLACEHOLDER, lang);
        let known = files.get(path.as_str());
        let lower = path.to_ascii_lowercase();
        Check {
            location: l.id,
            lang: lang.to_string(),
            expected: Expected {
                size: known.and_then(|f| f.size),
                md5: known.and_then(|f| f.md5.clone()),
                sha1: known.and_then(|f| f.sha1.clone()),
                sha256: known.and_then(|f| f.sha256.clone()),
                html: lower.ends_with(".html") || lower.ends_with(".htm"),
            },
            path,
            hash: hash
                && known.is_some_and(|f| f.md5.is_some() || f.sha1.is_some() || f.sha256.is_some()),
            measure: false,
        }
    };
    let mut plans = Vec::new();
    for m in s
        .mirrors
        .iter()
        .filter(|m| m.active && only.is_none_or(|id| id == m.id))
    {
        let checked_at = s.health.get(&m.id).map_or(0, |h| h.checked_at);
        // Away for maintenance: not checked, so never marked down or
        // mailed about. Back from it: checked in full before it serves.
        if m.maintenance.is_some_and(|w| w.covers(now)) {
            continue;
        }
        let back = m.maintenance.is_some_and(|w| w.keeps_out(checked_at, now));
        let never_checked = checked_at == 0 || back;
        // A pass for new things leaves known-down mirrors to the spot and
        // full passes (which re-check them on their schedules), unless
        // asked for by name: otherwise every change would re-probe them
        // and file another report saying they are still down.
        let known_down = s
            .health
            .get(&m.id)
            .is_some_and(|h| h.checked_at > 0 && !h.healthy);
        if mode == Mode::New && known_down && only.is_none() {
            continue;
        }
        // A CDN is always complete: probed, never scanned file by file.
        if m.kind == crate::model::MirrorKind::Cdn {
            if mode != Mode::Hashes {
                plans.push(MirrorPlan {
                    mirror: m.id,
                    name: m.name.clone(),
                    base_url: m.base_url.clone(),
                    alt_url: m.alt_url.clone(),
                    trace: None,
                    checks: Vec::new(),
                });
            }
            continue;
        }
        let mut checks = Vec::new();
        match mode {
            Mode::Spot => {
                if !active_locations.is_empty() {
                    let (l, p) =
                        active_locations[rng.below(active_locations.len() as u64) as usize];
                    let langs = sample_languages(p, l, langs.get(&l.id), rng);
                    let lang = &langs[rng.below(langs.len() as u64) as usize];
                    checks.push(check(l, lang, false));
                }
            }
            Mode::All | Mode::New | Mode::Hashes => {
                for &(l, p) in &active_locations {
                    let wanted = match mode {
                        Mode::New => {
                            never_checked || p.checknow || !checked.contains(&(l.id, m.id))
                        }
                        _ => true,
                    };
                    if !wanted {
                        continue;
                    }
                    for lang in sample_languages(p, l, langs.get(&l.id), rng) {
                        let c = check(l, &lang, mode == Mode::Hashes);
                        if mode != Mode::Hashes || c.hash {
                            checks.push(c);
                        }
                    }
                }
            }
        }
        // A full run measures each mirror's speed on its largest known file.
        if mode == Mode::All
            && let Some(biggest) = checks
                .iter_mut()
                .filter(|c| c.expected.size.is_some())
                .max_by_key(|c| c.expected.size)
        {
            biggest.measure = true;
        }
        // A mirror nobody has checked is always looked at, even with no files.
        if !checks.is_empty() || (mode != Mode::Hashes && never_checked) {
            plans.push(MirrorPlan {
                mirror: m.id,
                name: m.name.clone(),
                base_url: m.base_url.clone(),
                alt_url: m.alt_url.clone(),
                trace: m.trace.clone(),
                checks,
            });
        }
    }
    plans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixtures;
    use crate::model::*;

    fn product(langs: &[&str]) -> Product {
        fixtures::product(1, "p", langs)
    }

    fn location(id: u64, path: &str) -> Location {
        fixtures::location(id, 1, "win", path)
    }

    #[test]
    fn languages_include_en_us_and_the_alphabetical_ends() {
        let p = product(&["fr", "en-US", "zh-TW", "ach", "de"]);
        let l = location(1, "/x/:lang/y");
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20 {
            let langs = sample_languages(&p, &l, None, &mut rng);
            assert!(langs.len() <= 4);
            for must in ["en-US", "ach", "zh-TW"] {
                assert!(langs.iter().any(|x| x == must), "{langs:?}");
            }
        }
        assert_eq!(
            sample_languages(&p, &location(2, "/x/y"), None, &mut rng),
            vec![""]
        );
        assert_eq!(
            sample_languages(&product(&[]), &l, None, &mut rng),
            vec!["en-US"]
        );
        // Known files narrow the choice to the languages they are in.
        let known: HashSet<&str> = ["de", "fr"].into_iter().collect();
        for _ in 0..20 {
            let langs = sample_languages(&p, &l, Some(&known), &mut rng);
            assert!(!langs.is_empty() && langs.iter().all(|x| known.contains(x.as_str())));
        }
        let none: HashSet<&str> = ["xx"].into_iter().collect();
        assert!(!sample_languages(&p, &l, Some(&none), &mut rng).is_empty());
    }

    fn known() -> Vec<FileInfo> {
        vec![FileInfo {
            path: "/a/de/a.exe".into(),
            location: Some(LocationId(1)),
            lang: Some("de".into()),
            size: Some(5),
            sha256: Some("ab".into()),
            ..Default::default()
        }]
    }

    fn snapshot() -> Snapshot {
        let mirror = |id: u64, active| Mirror {
            active,
            ..fixtures::mirror(id, &format!("http://m{id}.example"), 1)
        };
        let mut p = product(&["de"]);
        p.checknow = false;
        let mut s = Snapshot {
            products: vec![p],
            locations: vec![location(1, "/a/:lang/a.exe"), location(2, "/b.html")],
            mirrors: vec![mirror(1, true), mirror(2, true), mirror(3, false)],
            ..Default::default()
        };
        s.health.insert(
            MirrorId(1),
            MirrorHealth {
                checked_at: 5,
                ..Default::default()
            },
        );
        s
    }

    #[test]
    fn modes() {
        let s = snapshot();
        let mut rng = fastrand::Rng::with_seed(1);
        let all = plan(Mode::All, None, &s, &known(), &HashSet::new(), &mut rng);
        // Inactive mirror 3 is never checked.
        assert_eq!(
            all.iter().map(|p| p.mirror.0).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(all[0].checks.len(), 2);
        let a = &all[0].checks[0];
        assert_eq!((a.path.as_str(), a.expected.size), ("/a/de/a.exe", Some(5)));
        assert!(all[0].checks[1].expected.html);
        // The one file of known size is measured, once per mirror.
        assert_eq!(all[0].checks.iter().filter(|c| c.measure).count(), 1);
        assert!(all[0].checks[0].measure);

        // New: mirror 2 was never checked; for mirror 1 only unchecked locations.
        let checked: HashSet<_> = [(LocationId(1), MirrorId(1))].into();
        let new = plan(Mode::New, None, &s, &known(), &checked, &mut rng);
        assert_eq!(
            new[0]
                .checks
                .iter()
                .map(|c| c.location.0)
                .collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(new[1].checks.len(), 2);
        // A known-down mirror waits for the spot and full passes, unless named.
        let mut down = s.clone();
        down.health.insert(
            MirrorId(2),
            crate::model::MirrorHealth {
                healthy: false,
                checked_at: 5,
                ..Default::default()
            },
        );
        let new = plan(Mode::New, None, &down, &known(), &checked, &mut rng);
        assert_eq!(new.iter().map(|p| p.mirror.0).collect::<Vec<_>>(), vec![1]);
        let named = plan(
            Mode::New,
            Some(MirrorId(2)),
            &down,
            &known(),
            &checked,
            &mut rng,
        );
        assert_eq!(
            named.iter().map(|p| p.mirror.0).collect::<Vec<_>>(),
            vec![2]
        );
        let both: HashSet<_> = [(LocationId(1), MirrorId(1)), (LocationId(2), MirrorId(1))].into();
        let new = plan(Mode::New, None, &s, &known(), &both, &mut rng);
        assert_eq!(new.iter().map(|p| p.mirror.0).collect::<Vec<_>>(), vec![2]);

        let spot = plan(Mode::Spot, None, &s, &known(), &both, &mut rng);
        assert!(spot.iter().all(|p| p.checks.len() == 1));

        let hashes = plan(
            Mode::Hashes,
            Some(MirrorId(1)),
            &s,
            &known(),
            &both,
            &mut rng,
        );
        assert_eq!(hashes.len(), 1);
        assert_eq!(hashes[0].checks.len(), 1);
        assert!(hashes[0].checks[0].hash);
    }
}
