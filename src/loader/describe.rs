//! A plan in words for a terminal: one line per product (its locations
//! beneath when they differ by more than the platform directory, or
//! conflict), what is left out and why, and every unusable line.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{Plan, ProductPlan, Status};

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

/// The first `n` items, then how many more.
pub(super) fn examples<'a>(items: impl Iterator<Item = &'a str>, n: usize) -> String {
    let all: Vec<&str> = items.collect();
    let mut s = all.iter().take(n).copied().collect::<Vec<_>>().join(", ");
    if all.len() > n {
        let _ = write!(s, ", … ({} more)", all.len() - n);
    }
    s
}

/// `1 language`, `3 languages`.
fn languages(n: usize) -> String {
    if n == 1 {
        "1 language".into()
    } else {
        format!("{n} languages")
    }
}

/// `3 new, 2 unchanged` for the counts that are not 0, or `none`.
fn counts(parts: &[(usize, &str)]) -> String {
    let parts: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// `2 new, 3 unchanged` for locations by status.
fn location_counts(with: impl Fn(Status) -> usize) -> String {
    counts(&[
        (with(Status::New), "new"),
        (with(Status::Same), "unchanged"),
        (with(Status::Conflict), "conflicting"),
    ])
}

/// `200 new, 5 completed with more hashes` for files by status.
fn file_counts(with: impl Fn(Status) -> usize) -> String {
    counts(&[
        (with(Status::New), "new"),
        (with(Status::Completed), "completed with more hashes"),
        (with(Status::Same), "unchanged"),
        (with(Status::Conflict), "conflicting"),
    ])
}

/// The one template a product's locations share but for one segment (the
/// platform directory), with `*` there; `None` when they differ more.
pub fn common_template(p: &ProductPlan) -> Option<String> {
    let mut paths = p
        .locations
        .iter()
        .map(|l| l.path.split('/').collect::<Vec<_>>());
    let mut common: Vec<Option<&str>> = paths.next()?.into_iter().map(Some).collect();
    for segments in paths {
        if segments.len() != common.len() {
            return None;
        }
        for (c, s) in common.iter_mut().zip(segments) {
            if *c != Some(s) {
                *c = None;
            }
        }
    }
    (common.iter().filter(|c| c.is_none()).count() <= 1).then(|| {
        common
            .iter()
            .map(|c| c.unwrap_or("*"))
            .collect::<Vec<_>>()
            .join("/")
    })
}

/// Lines with the same reason together, as ranges: (reason, lines,
/// example), in the order the reasons first come.
pub fn by_reason<'a>(
    items: impl Iterator<Item = (String, usize, Option<&'a str>)>,
) -> Vec<(String, Vec<usize>, Option<&'a str>)> {
    let mut out: Vec<(String, Vec<usize>, Option<&str>)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (reason, line, example) in items {
        match at.get(&reason) {
            Some(&i) => out[i].1.push(line),
            None => {
                at.insert(reason.clone(), out.len());
                out.push((reason, vec![line], example));
            }
        }
    }
    out
}

impl ProductPlan {
    /// `locations 2 new; 100 languages (3 new); files 200 new, 5 unchanged`.
    pub fn figures(&self) -> String {
        let langs = match (self.languages, self.new_languages.len()) {
            (0, _) => "every language".to_string(),
            (n, 0) => languages(n),
            (n, new) => format!("{} ({new} new)", languages(n)),
        };
        let mut out = format!(
            "locations {}; {langs}; files {}",
            location_counts(|s| self.locations_with(s)),
            file_counts(|s| self.files_with(s))
        );
        // The flags a product is created with.
        if self.create && self.ssl_only {
            out.push_str("; https only");
        }
        if self.create && self.private {
            out.push_str("; private");
        }
        out
    }
}

impl Plan {
    /// The plan in words: the products with their counts and locations,
    /// conflicts, what is not loaded and every unusable line.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let kept = if self.force {
            " (will be replaced)"
        } else {
            " (kept; --force replaces it)"
        };
        if !self.new_oses.is_empty() {
            let _ = writeln!(
                out,
                "operating systems to add: {}",
                self.new_oses.join(", ")
            );
        }
        let new = self.new_languages();
        if !new.is_empty() {
            let _ = writeln!(
                out,
                "languages new to the products: {} ({})",
                new.len(),
                examples(new.into_iter(), 12)
            );
        }
        let created = self.products.iter().filter(|p| p.create).count();
        let _ = writeln!(
            out,
            "{} product(s): {created} new, {} existing",
            self.products.len(),
            self.products.len() - created
        );
        let width = self
            .products
            .iter()
            .map(|p| p.product.len())
            .max()
            .unwrap_or(0);
        for p in &self.products {
            let common = common_template(p);
            let _ = write!(
                out,
                "  {:<width$}  {:<8}  {}",
                p.product,
                if p.create { "new" } else { "existing" },
                p.figures()
            );
            let list = self.products.len() == 1
                || common.is_none()
                || p.locations.iter().any(|l| l.status == Status::Conflict);
            match (&common, list) {
                (Some(t), false) => {
                    let _ = writeln!(out, "; {t}");
                }
                _ => out.push('\n'),
            }
            if list {
                let os_width = p
                    .locations
                    .iter()
                    .map(|l| l.os.len())
                    .max()
                    .unwrap_or(0)
                    .max(10);
                for l in &p.locations {
                    let what = match (l.status, &l.stored) {
                        (Status::Conflict, Some(stored)) => {
                            format!("CONFLICT: stored {stored}{kept}")
                        }
                        (Status::New, _) => "new".into(),
                        _ => "unchanged".into(),
                    };
                    let _ = writeln!(
                        out,
                        "      {:<os_width$} {}  [{}] {what}",
                        l.os,
                        l.path,
                        match l.languages {
                            0 => "any language".to_string(),
                            n => languages(n),
                        }
                    );
                }
            }
            for f in p.files.iter().filter(|f| f.status == Status::Conflict) {
                let _ = writeln!(out, "      CONFLICT {}: {}{kept}", f.path, f.detail);
            }
        }
        if self.products.len() > 1 {
            let _ = writeln!(
                out,
                "  total: locations {}; files {}",
                location_counts(|s| self.locations_with(s)),
                file_counts(|s| self.files_with(s))
            );
        }
        if self.unmatched > 0 {
            let _ = writeln!(
                out,
                "{} line(s) not matching --match left out",
                self.unmatched
            );
        }
        if !self.not_loaded.is_empty() {
            let _ = writeln!(
                out,
                "{} line(s) not loaded (no kind of file to offer; not errors):",
                self.not_loaded.len()
            );
            let groups = by_reason(
                self.not_loaded
                    .iter()
                    .map(|n| (n.reason.to_string(), n.line, Some(n.path.as_str()))),
            );
            for (reason, lines, example) in groups {
                let _ = writeln!(
                    out,
                    "  {} {}: {reason}, e.g. {}",
                    if lines.len() == 1 { "line" } else { "lines" },
                    ranges(&lines),
                    crate::error::cut(example.unwrap_or_default())
                );
            }
        }
        if let Some(os_map) = self.suggested_os_map() {
            let dirs: Vec<&str> = self.unmapped.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "platform directories without an operating system ({}): to load them, give --os-map {os_map}",
                dirs.join(", ")
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "{} line(s) could not be used:", self.skipped.len());
            let groups = by_reason(
                self.skipped
                    .iter()
                    .map(|s| (s.reason.to_string(), s.line, None)),
            );
            for (reason, lines, _) in groups {
                let _ = writeln!(
                    out,
                    "  {} {}: {reason}",
                    if lines.len() == 1 { "line" } else { "lines" },
                    ranges(&lines)
                );
            }
        }
        out
    }
}
